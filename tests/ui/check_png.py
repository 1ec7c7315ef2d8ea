#!/usr/bin/env python3
# check_png.py - a screenshot of the dashboard is right: size, not blank, the speedup plot drawn
"""Usage: check_png.py FILE.png WIDTH HEIGHT

Reads the PNG with zlib and struct only (8-bit RGB or RGBA, non-interlaced, as
Chromium writes them) and fails (exit 1, one line saying why) unless it is
WIDTH x HEIGHT, has at least 50 distinct colours (a blank or error page has a
handful), and the speedup plot -- the box of the pixels of its own background
colour, #fdfcf7 (web/style.css), at least 300 x 150 -- holds at least 150
saturated pixels (max - min of R, G, B over 80): its coloured points, error bars
and legend; grey text such as "no speedup yet" does not count.
"""
import struct
import sys
import zlib


def read_png(path):
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, ihdr = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
        pos += 12 + length
    width, height, depth, ctype, _, _, interlace = ihdr
    if depth != 8 or ctype not in (2, 6) or interlace:
        raise ValueError("unsupported PNG (depth %d, colour type %d)" % (depth, ctype))
    bpp = 3 if ctype == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows, prev = [], bytearray(stride)
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return width, height, bpp, rows


def main(argv):
    if len(argv) != 4:
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        return 2
    path = argv[1]
    want_w, want_h = int(argv[2]), int(argv[3])
    w, h, bpp, rows = read_png(path)
    if (w, h) != (want_w, want_h):
        print("%s: %dx%d, expected %dx%d" % (path, w, h, want_w, want_h))
        return 1
    colours = set()
    for y in range(0, h, 2):
        row = rows[y]
        for x in range(0, w, 2):
            colours.add(row[x * bpp:x * bpp + 3])
    if len(colours) < 50:
        print("%s: only %d distinct colours: a blank page?" % (path, len(colours)))
        return 1
    plot_bg = b"\xfd\xfc\xf7"
    xs, ys = [], []
    for y in range(h):
        row = rows[y]
        for x in range(0, w, 2):
            if row[x * bpp:x * bpp + 3] == plot_bg:
                xs.append(x)
                ys.append(y)
    if not xs:
        print("%s: no speedup plot (no pixel of its background #fdfcf7)" % path)
        return 1
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    if x1 - x0 < 300 or y1 - y0 < 150:
        print("%s: the speedup plot is %dx%d pixels, expected at least 300x150"
              % (path, x1 - x0, y1 - y0))
        return 1
    ink = 0
    for y in range(y0, y1):
        row = rows[y]
        for x in range(x0, x1):
            px = row[x * bpp:x * bpp + 3]
            if max(px) - min(px) > 80:
                ink += 1
    if ink < 150:
        print("%s: the speedup plot's box %d,%d-%d,%d has %d coloured pixels, expected >= 150"
              % (path, x0, y0, x1, y1, ink))
        return 1
    print("%s: %dx%d, %d colours, speedup plot at %d,%d-%d,%d with %d coloured pixels"
          % (path, w, h, len(colours), x0, y0, x1, y1, ink))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
