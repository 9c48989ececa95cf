"""Peers: small standalone servers that speak Hubbub's socket frames for the benchmarked
operations (`send_message` → `reply` + `message.new`, `ping`), so the same load generator
drives them and Hubbub. Auth is a trivial token: the user id itself."""
