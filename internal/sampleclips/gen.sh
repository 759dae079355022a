#!/usr/bin/env bash
# Regenerates the sample clips: 8 s, 320x180, 15 fps VP8 WebM, no audio,
# drawn entirely by ffmpeg's built-in lavfi test sources (no third-party
# footage, nothing to license). Needs ffmpeg with libvpx.
set -euo pipefail
cd "$(dirname "$0")"
i=0
for src in "testsrc2=size=320x180:rate=15" "smptebars=size=320x180:rate=15" \
	"mandelbrot=size=320x180:rate=15" \
	"life=size=320x180:rate=15:mold=10:ratio=0.1:death_color=#C83232:life_color=#00ff00" \
	"rgbtestsrc=size=320x180:rate=15" "cellauto=size=320x180:rate=15:rule=110"; do
	i=$((i + 1))
	ffmpeg -loglevel error -y -f lavfi -i "$src" -t 8 -c:v libvpx -b:v 150k -pix_fmt yuv420p -an "clip$i.webm"
done
