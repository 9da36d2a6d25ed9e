#!/usr/bin/env bash
# Builds debian:bookworm-slim from Debian's packages when no registry can provide it.
# Every image of the lab starts FROM that tag; where `docker pull` works, the official
# image is used instead and this script never runs.
set -euo pipefail

tag=debian:bookworm-slim
mirror=http://deb.debian.org/debian

if docker image inspect "$tag" >/dev/null 2>&1; then
  exit 0
fi
if docker pull --quiet "$tag" >/dev/null 2>&1; then
  echo "pulled $tag"
  exit 0
fi

echo "No registry has $tag: building it from Debian's packages with mmdebstrap (about 30 s)."
if ! command -v mmdebstrap >/dev/null; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && apt-get install -y -qq --no-install-recommends mmdebstrap >/dev/null
  else
    echo "error: mmdebstrap is needed to build $tag here; install it (sudo apt-get install mmdebstrap)" >&2
    exit 1
  fi
fi

# As in Docker's official image: apt keeps no downloaded packages in the image.
export docker_clean='DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache ""; Dir::Cache::srcpkgcache "";
APT::AutoRemove::SuggestsImportant "false";'

# The path excludes are kept in the image (dpkg.cfg.d), so the lab's own images stay
# small too: no manuals, docs or translations.
# Merged /usr set up as Debian's own installer does it, rather than by the usrmerge
# package, which would pull Perl (about 47 MB) into every image.
hooks=()
if [ -d /usr/share/mmdebstrap/hooks/merged-usr ]; then
  hooks=(--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr)
fi

mmdebstrap --variant=minbase --quiet "${hooks[@]}" \
  --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  --dpkgopt='path-include=/usr/share/locale/locale.alias' \
  --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --dpkgopt='path-exclude=/usr/share/info/*' \
  --dpkgopt='path-exclude=/usr/share/lintian/*' \
  --dpkgopt='path-exclude=/usr/share/groff/*' \
  --aptopt='Acquire::Languages "none"' \
  --customize-hook='printf "%s\n" "$docker_clean" > "$1"/etc/apt/apt.conf.d/docker-clean' \
  --customize-hook='rm -rf "$1"/var/cache/apt/*.bin "$1"/var/lib/apt/lists/*' \
  bookworm - \
  "deb $mirror bookworm main" \
  "deb $mirror bookworm-updates main" \
  "deb ${mirror}-security bookworm-security main" \
  | docker import --change 'CMD ["bash"]' - "$tag" >/dev/null
echo "built $tag"
