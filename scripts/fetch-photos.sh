#!/usr/bin/env bash
# Fetches the real test photographs from package registries into one folder (they are not in
# the repository: their licences are the packages'). Debian's `darknet` ships dog, person,
# giraffe, eagle, kite and horses (.jpg); the scikit-image wheel on PyPI ships astronaut.png (a
# public-domain NASA photograph) and chelsea.png. Best effort: prints what it could not get and
# exits non-zero when a photograph is missing, so CI can insist and a developer can see why.
#
# usage: scripts/fetch-photos.sh [DIR]   (default: $ARGUS_PHOTOS, else ~/.cache/argus/photos)
set -uo pipefail
dir="${1:-${ARGUS_PHOTOS:-$HOME/.cache/argus/photos}}"
mkdir -p "$dir"
darknet_photos=(dog person giraffe eagle kite horses)
skimage_photos=(astronaut chelsea)
skimage_version=0.26.0

darknet_dir=/usr/share/darknet/data
if [ ! -f "$darknet_dir/dog.jpg" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq darknet >/dev/null) \
    || echo "fetch-photos: apt-get install darknet failed"
fi
for p in "${darknet_photos[@]}"; do
  [ -f "$darknet_dir/$p.jpg" ] && cp -f "$darknet_dir/$p.jpg" "$dir/$p.jpg"
done

need_wheel=0
for p in "${skimage_photos[@]}"; do [ -f "$dir/$p.png" ] || need_wheel=1; done
if [ "$need_wheel" = 1 ] && command -v python3 >/dev/null 2>&1; then
  tmp=$(mktemp -d)
  if python3 -m pip download -q --no-deps --only-binary=:all: -d "$tmp" "scikit-image==$skimage_version" >/dev/null 2>&1 \
     || python3 -m pip download -q --no-deps --only-binary=:all: -d "$tmp" scikit-image >/dev/null 2>&1; then
    python3 - "$tmp" "$dir" "${skimage_photos[@]}" <<'PY'
import glob, sys, zipfile
tmp, out, names = sys.argv[1], sys.argv[2], sys.argv[3:]
wheel = zipfile.ZipFile(glob.glob(tmp + "/*.whl")[0])
for name in names:
    with open(f"{out}/{name}.png", "wb") as f:
        f.write(wheel.read(f"skimage/data/{name}.png"))
PY
  else
    echo "fetch-photos: pip download scikit-image failed"
  fi
  rm -rf "$tmp"
fi

missing=()
for p in "${darknet_photos[@]}"; do [ -f "$dir/$p.jpg" ] || missing+=("$p.jpg"); done
for p in "${skimage_photos[@]}"; do [ -f "$dir/$p.png" ] || missing+=("$p.png"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "fetch-photos: missing in $dir: ${missing[*]}"
  exit 1
fi
echo "fetch-photos: ${#darknet_photos[@]} darknet and ${#skimage_photos[@]} scikit-image photographs in $dir"
