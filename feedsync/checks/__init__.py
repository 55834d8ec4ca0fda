"""Data problems as values: the Issue type, its severities, the registry of issue codes and
the text checks shared by parsing and channels."""
