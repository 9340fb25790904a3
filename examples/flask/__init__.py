"""The examples of the Flask page: the blueprint, the extension, signals and CSRF."""
