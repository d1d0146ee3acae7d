#!/usr/bin/env python3
"""Writes BYTES bytes of 100-byte lines to stdout as fast as Python can.

    log_writer.py BYTES        (rounded down to whole lines)

The stream is deterministic, so a reader can check it byte for byte (length,
line count, CRC-32) by generating it again with blocks(). Each block of
10,000 lines starts with a line that carries the block's number, so a lost,
repeated or reordered block changes the checksum as well as the count.
Used by log_throughput.py, which imports it for the expected checksum.
"""

import os
import sys

LINE_BYTES = 100
BLOCK_LINES = 10_000


def _static_lines():
    lines = []
    for j in range(1, BLOCK_LINES):
        head = b"line %05d " % j
        lines.append(head + (b"abcdefghijklmnopqrstuvwxyz"[: j % 26]).ljust(LINE_BYTES - 1 - len(head), b".") + b"\n")
    return b"".join(lines)


def total_for(requested):
    return (int(requested) // LINE_BYTES) * LINE_BYTES


def blocks(requested):
    """Yields the stream of total_for(requested) bytes in blocks of <= 1,000,000 bytes."""
    left = total_for(requested)
    static = _static_lines()
    number = 0
    while left > 0:
        head = (b"block %012d " % number).ljust(LINE_BYTES - 1, b"=") + b"\n"
        block = head + static
        if len(block) > left:
            block = block[:left]
        yield block
        left -= len(block)
        number += 1


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    for block in blocks(sys.argv[1]):
        view = memoryview(block)
        while view:
            n = os.write(1, view)
            view = view[n:]
    return 0


if __name__ == "__main__":
    sys.exit(main())
