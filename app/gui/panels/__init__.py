"""One module per panel; the main window only composes them."""
