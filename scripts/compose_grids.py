"""Put sample grids of different resolutions side by side at one display size (nearest
neighbour, so each resolution's pixels stay visible), e.g. a growing model's grids:

    python scripts/compose_grids.py OUT.png GRID_4PX.png GRID_8PX.png GRID_16PX.png GRID_32PX.png
"""

import sys

from PIL import Image


def compose(paths, gap=8):
    grids = [Image.open(p).convert("RGB") for p in paths]
    height = max(g.height for g in grids)
    factors = [max(1, round(height / g.height)) for g in grids]
    scaled = [g.resize((g.width * f, g.height * f), Image.NEAREST) for g, f in zip(grids, factors)]
    out = Image.new("RGB", (sum(g.width for g in scaled) + gap * (len(scaled) - 1),
                            max(g.height for g in scaled)), "white")
    x = 0
    for g in scaled:
        out.paste(g, (x, 0))
        x += g.width + gap
    return out


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__.strip())
    compose(sys.argv[2:]).save(sys.argv[1])
