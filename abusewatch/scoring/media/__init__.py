"""Known abusive media: post media hashes matched against named hash banks (docs/media.md)."""
