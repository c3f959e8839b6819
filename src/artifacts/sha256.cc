// Placeholder: written by the part's owner.
