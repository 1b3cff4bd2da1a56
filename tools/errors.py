"""The one error type of the meshbulb tools: main() prints `meshbulb: <message>`, exit 1."""


class ToolError(Exception):
    pass
