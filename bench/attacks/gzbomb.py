# gzbomb.py SIZE OUT: a gzip stream of exactly SIZE bytes that inflates to about 1000 times
# that in zeros (a header, then the same full-flushed deflate block of 64 MiB of zeros over and
# over; the stream is cut at SIZE, so it has no trailer: a reader must stop long before).
import sys, zlib
size, out = int(sys.argv[1]), sys.argv[2]
c = zlib.compressobj(9, zlib.DEFLATED, -15)
zeros = bytes(64 << 20)
first = c.compress(zeros) + c.flush(zlib.Z_FULL_FLUSH)
unit = c.compress(zeros) + c.flush(zlib.Z_FULL_FLUSH)
head = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff" + first
with open(out, "wb") as f:
    f.write(head)
    left = size - len(head)
    while left > 0:
        f.write(unit[:left]); left -= min(left, len(unit))
print(f"{out}: {size} bytes, {len(unit)} bytes per 64 MiB of zeros: about {size // len(unit) * 64 / 1024:.0f} GiB")
