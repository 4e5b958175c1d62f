"""The bad-input corpus: malformed inputs written by fixtures, each with the error it must give."""
