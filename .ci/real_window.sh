#!/usr/bin/env bash
# One real-window run: the app on the demo series in an X server (Xvfb) with a window manager
# (openbox), driven by keys sent with xdotool; a screenshot of the screen must not be blank and
# Ctrl+Q must end the app with exit code 0.
#
# Environment: APP (default .venv/bin/flimage-app), PYTHON (default .venv/bin/python),
# OUT (folder for the screenshot and logs, default build/real-window), SCREEN (default 1400x900),
# DISPLAY_NUMBER (default 77, or the next one no other X server holds).
set -euo pipefail
cd "$(dirname "$0")/.."

APP=${APP:-.venv/bin/flimage-app}
PYTHON=${PYTHON:-.venv/bin/python}
OUT=${OUT:-build/real-window}
SCREEN=${SCREEN:-1400x900}
DISPLAY_NUMBER=${DISPLAY_NUMBER:-77}

# X server, window manager, xdotool, ImageMagick and the libraries of Qt's xcb platform,
# installed only where missing
missing=0
for tool in Xvfb xvfb-run xauth xdotool import openbox; do
  command -v "$tool" >/dev/null 2>&1 || missing=1
done
ldconfig -p | grep -q 'libxcb-cursor\.so\.0' || missing=1
if [ "$missing" = 1 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq xvfb xauth xdotool x11-apps imagemagick \
    openbox libxcb-cursor0 libxkbcommon-x11-0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 \
    libxcb-render-util0 libxcb-xinerama0 libxcb-shape0 >/dev/null
fi

mkdir -p "$OUT"
# a display another X server holds would be shared with it (its screen size, its windows)
while [ -e "/tmp/.X${DISPLAY_NUMBER}-lock" ] || [ -e "/tmp/.X11-unix/X${DISPLAY_NUMBER}" ]; do
  DISPLAY_NUMBER=$((DISPLAY_NUMBER + 1))
done
export DISPLAY=":$DISPLAY_NUMBER"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

Xvfb "$DISPLAY" -screen 0 "${SCREEN}x24" -nolisten tcp >"$OUT/xvfb.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
  xdotool getdisplaygeometry >/dev/null 2>&1 && break
  sleep 0.1
done
openbox >"$OUT/openbox.log" 2>&1 &
pids+=($!)
sleep 1

# a fresh settings file: the window opens at its default size, as on a first start
rm -f "$OUT/settings.ini"
FLIMAGE_APP_SETTINGS="$OUT/settings.ini" QT_QPA_PLATFORM=xcb "$APP" --demo \
  >"$OUT/app.log" 2>&1 &
app=$!
pids+=("$app")

window=$(timeout 60 xdotool search --sync --onlyvisible --name 'demo.*flimage-app' | head -n 1) \
  || true
if [ -z "$window" ]; then
  echo "real window: no window of the app appeared within 60 s" >&2
  cat "$OUT/app.log" >&2
  exit 1
fi
xdotool windowactivate --sync "$window"
sleep 3  # the first frame is read in the background
# two frames on, then View ▸ Background (Ctrl+2), as a user would look around
xdotool key --delay 300 Right Right ctrl+2
sleep 2
import -window root "$OUT/real-window.png"

"$PYTHON" - "$OUT/real-window.png" "$SCREEN" <<'PY'
import sys

from PIL import Image

path, screen = sys.argv[1], sys.argv[2]
image = Image.open(path)
image.load()
expected = tuple(int(side) for side in screen.split("x"))
assert image.size == expected, (image.size, expected)
levels = sum(1 for count in image.convert("L").histogram() if count)
assert levels > 50, f"the screenshot is blank ({levels} grey levels)"
print(f"real window: {path} {image.size}, {levels} grey levels")
PY

# Ctrl+Q: nothing is unsaved, so the app ends at once, with exit code 0
xdotool windowactivate --sync "$window" key ctrl+q
for _ in $(seq 200); do
  kill -0 "$app" 2>/dev/null || break
  sleep 0.1
done
if kill -0 "$app" 2>/dev/null; then
  echo "real window: the app did not quit within 20 s of Ctrl+Q" >&2
  cat "$OUT/app.log" >&2
  exit 1
fi
code=0
wait "$app" || code=$?
if [ "$code" != 0 ]; then
  echo "real window: the app ended with exit code $code" >&2
  cat "$OUT/app.log" >&2
  exit 1
fi
echo "real window: Ctrl+Q ended the app with exit code 0"
