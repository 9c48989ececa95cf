"""The fault suite (issue #11): real `hubbub serve` processes on a private MariaDB, both started
and stopped by PID, driven over loopback by real sockets. Every scenario ends with the same
checker (`tests.faults.checker`): nothing acknowledged lost, nothing stored or received twice,
no gap in a conversation's seqs, each socket's pushes in seq order."""
