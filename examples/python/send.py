"""Send one message over SMTP with STARTTLS.

    python3 examples/python/send.py SERVER PORT USER PASSWORD FROM TO

Shows the usual path: an SSLInfo, a logger, ``with`` (QUIT at a normal end,
none when an exception leaves it), the per-recipient results, and the
errors to catch. Type-checked by tests/python/test_typing.py (mypy).
"""

import logging
import sys
from typing import List

import mailwire


def send(server: str, port: int, user: str, password: str, sender: str,
         recipients: List[str]) -> List[mailwire.RecipientResult]:
    ssl = mailwire.SSLInfo(mailwire.MODE_STARTTLS)
    message = ("From: %s\r\nTo: %s\r\nSubject: mailwire example\r\n\r\n"
               "Hello.\r\n" % (sender, ", ".join(recipients)))
    with mailwire.SMTPClient(server, port, ssl=ssl, user=user,
                             password=password, timeout=30,
                             log_handler=logging.getLogger("mailwire")) as smtp:
        results = smtp.send(sender, recipients, message)
    # with ended normally: QUIT was sent; results is bound here.
    print("TLS:", ssl.protocol_name, ssl.cipher_name)
    return results


def main(argv: List[str]) -> int:
    if len(argv) < 7:
        print(__doc__)
        return 2
    try:
        for r in send(argv[1], int(argv[2]), argv[3], argv[4], argv[5], argv[6:]):
            print(r.address, r.code, r.enhanced_status, r.text)
    except mailwire.ServerError as e:
        print("refused:", e.reply_code, e.server_text)
        for r in e.results:
            print(" ", r.address, r.code, r.text)
        return 1
    except mailwire.Error as e:
        print("failed:", e.name, e.text, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
