/*
 * hostile_server.c - the scripted server of one case, as a program, for the
 * Python and Lua runners (the C runner has it in-process).
 *
 *   hostile_server CASE PORTFILE RECORDFILE RESULTFILE
 *
 * Listens on 127.0.0.1 and writes the port to PORTFILE (complete when it
 * appears: written aside, then renamed). Then reads standard input: "stop"
 * (the client never connected: end now) or "wait" / end of input (wait up
 * to 20 s for the script to end). Last it writes every byte the client
 * sent to RECORDFILE and "ok" or the script's failure to RESULTFILE, and
 * exits 0 (the runner judges).
 */
#define _DEFAULT_SOURCE
#include "hcase.h"
#include "testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int write_file(const char *path, const char *data, size_t len) {
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s.part", path);
  FILE *f = fopen(tmp, "wb");
  if (!f)
    return -1;
  int ok = fwrite(data, 1, len, f) == len;
  ok = fclose(f) == 0 && ok;
  return ok && rename(tmp, path) == 0 ? 0 : -1;
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: %s CASE PORTFILE RECORDFILE RESULTFILE\n",
            argv[0]);
    return 2;
  }
  char why[512];
  hc_case *hc = hc_load(argv[1], "", why, sizeof why);
  if (!hc) {
    fprintf(stderr, "%s: %s\n", argv[1], why);
    return 2;
  }
  tl_server *s = tl_server_start(hc->script);
  if (!s) {
    fprintf(stderr, "%s: the script cannot start\n", argv[1]);
    return 2;
  }
  char port[16];
  snprintf(port, sizeof port, "%u\n", tl_server_port(s));
  if (write_file(argv[2], port, strlen(port)) != 0)
    return 2;
  char line[64] = "";
  if (!fgets(line, sizeof line, stdin))
    line[0] = '\0';
  const char *result = "ok";
  if (strncmp(line, "stop", 4) == 0)
    result = "stopped";
  else if (tl_server_wait(s, 20000) != 0)
    result = tl_server_error(s);
  size_t len;
  const char *rec = tl_server_received(s, &len);
  int rc = write_file(argv[3], rec, len) == 0 &&
                   write_file(argv[4], result, strlen(result)) == 0
               ? 0
               : 2;
  tl_server_free(s);
  hc_free(hc);
  return rc;
}
