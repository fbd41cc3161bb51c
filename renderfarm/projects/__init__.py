"""Projects (file sets): a shot's files, their checks and clean-up."""
