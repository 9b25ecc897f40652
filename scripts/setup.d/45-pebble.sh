# TLS (docs/tls.md): the tests run Let's Encrypt's own test ACME server, Pebble, and its
# challenge test server (DNS answering the test names with the test hosts' addresses).
if ! command -v pebble >/dev/null || ! command -v pebble-challtestsrv >/dev/null; then
  echo "setup: installing pebble" >&2
  apt_install pebble
fi
