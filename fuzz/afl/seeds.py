"""Writes AFL++ seed inputs: every protocol test vector (protocol/tests/data/vectors.txt),
once per decoder byte, into the folder named on the command line."""
import pathlib
import sys

out = pathlib.Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
here = pathlib.Path(__file__).resolve().parent
vectors = (here / "../../protocol/tests/data/vectors.txt").read_text().splitlines()
n = 0
for line in vectors:
    if " " not in line:
        continue
    name, hexed = line.split(" ", 1)
    data = bytes.fromhex(hexed.strip())
    for which in range(8):
        (out / f"{name}-{which}").write_bytes(bytes([which]) + data)
        n += 1
print(f"{n} seeds in {out}")
