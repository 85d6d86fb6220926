# Sourced by the scripts: puts Swift on PATH and names the repository.
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SERVICES="$REPO/scripts/services.sh"
if ! command -v swift >/dev/null 2>&1; then
  for candidate in /opt/swift/usr/bin /usr/share/swift/usr/bin; do
    [ -x "$candidate/swift" ] && PATH="$candidate:$PATH"
  done
  export PATH
fi
command -v swift >/dev/null 2>&1 || { echo "error: Swift 6 toolchain not found (looked on PATH and in /opt/swift)" >&2; exit 1; }
