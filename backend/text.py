"""A string type for request schemas whose values go to PostgreSQL, whose text cannot hold NUL:
the client's mistake is then a 422 naming the field, not a 500 from the database driver.
(Pydantic already refuses lone surrogates, which UTF-8 cannot encode.)"""

from typing import Annotated

from pydantic import AfterValidator, Field


def without_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters (PostgreSQL text cannot store them)")
    return value


# The pattern tells clients and fuzzers; the validator gives the clearer message.
Text = Annotated[str, AfterValidator(without_nul), Field(json_schema_extra={"pattern": "^[^\\u0000]*$"})]
