// Listeners (filled in by the AI layer).
