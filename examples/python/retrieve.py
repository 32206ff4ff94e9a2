"""List and retrieve the messages of a POP3 mailbox over implicit TLS.

    python3 examples/python/retrieve.py SERVER USER PASSWORD [--delete]

Messages are deleted only with --delete, and only when the whole loop ran:
an exception leaving ``with`` closes without QUIT, so nothing is deleted.
Type-checked by tests/python/test_typing.py (mypy).
"""

import sys
from typing import Dict, List

import mailwire


def retrieve(server: str, user: str, password: str, delete: bool) -> Dict[str, bytes]:
    got: Dict[str, bytes] = {}
    with mailwire.POP3Client(server, ssl=mailwire.SSLInfo(), user=user,
                             password=password) as pop:
        uids = dict(pop.uidl())  # List[Tuple[int, str]]
        for number, size in pop.list():
            data = pop.retr(number)  # bytes: no into=
            got[uids.get(number, str(number))] = data
            print(number, size, data.split(b"\r\n", 1)[0].decode("ascii", "replace"))
            if delete:
                pop.dele(number)
        first: List[bytes] = pop.retr_batch([n for n, _ in pop.list()][:3])
        print(len(first), "retrieved again in one batch")
    return got


def main(argv: List[str]) -> int:
    if len(argv) < 4:
        print(__doc__)
        return 2
    try:
        retrieve(argv[1], argv[2], argv[3], "--delete" in argv[4:])
    except mailwire.Error as e:
        print("failed:", e.name, e.text, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
