"""The workbench: a server-rendered browser client of info-share's lifecycle API for the people in the bodies."""
