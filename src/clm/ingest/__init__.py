"""Getting data in: staging sources, validating rows, resolving identity, the demo world."""
