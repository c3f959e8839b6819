// like() queries (filled in by the AI layer).
