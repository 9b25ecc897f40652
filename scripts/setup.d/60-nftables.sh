# bench/tcp_options.py measures an nftables redirect as one way to switch tcp mode's
# traffic (docs/benchmarks-tcp.md); no test needs it.
command -v nft >/dev/null || apt_install nftables
