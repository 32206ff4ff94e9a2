"""free-ports.py N - print N distinct free TCP ports on 127.0.0.1.

They are picked at random below the kernel's ephemeral range (32768 and up
on Linux), then checked by binding: the servers bind them a moment later,
and in between no client socket or port-0 listener (the scripted test
servers) can be handed one of them, as could happen with ports the kernel
chose itself when several suites run at once."""

import random
import socket
import sys


def ephemeral_low():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def main(n):
    low, high = 20000, min(ephemeral_low(), 32768) - 1
    chosen, socks = [], []
    for _ in range(1000):  # bounded: gives up rather than loop forever
        if len(chosen) == n:
            break
        port = random.randint(low, high)
        if port in chosen:
            continue
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            s.close()
            continue
        socks.append(s)
        chosen.append(port)
    if len(chosen) != n:
        sys.exit("free-ports.py: could not find %d free ports" % n)
    print(" ".join(map(str, chosen)))


if __name__ == "__main__":
    main(int(sys.argv[1]))
