"""Marshmallow fields shared by the request schemas of both transports."""

import re

from marshmallow import ValidationError, fields, validate

def id_field(**kwargs) -> fields.Integer:
    return fields.Integer(strict=True, validate=validate.Range(min=1), **kwargs)


def seq_field(**kwargs) -> fields.Integer:
    return fields.Integer(strict=True, validate=validate.Range(min=0), **kwargs)


def content_field() -> fields.String:
    return fields.String(required=True, validate=validate.Length(min=1, error="must not be empty"))


def msg_type_field() -> fields.Integer:
    return fields.Integer(strict=True, load_default=1, validate=validate.OneOf([1, 2, 3]))


class StrictBoolean(fields.Boolean):
    """JSON's true and false only: marshmallow's Boolean also takes 1, "yes", "on"..."""

    def _deserialize(self, value, attr, data, **kwargs):
        if type(value) is not bool:
            raise self.make_error("invalid")
        return value


def reply_to_field() -> fields.Integer:
    """The id of the message a new one replies to (quotes)."""
    return fields.Integer(strict=True, load_default=None, allow_none=True, validate=validate.Range(min=1))


def client_msg_id_field() -> fields.String:
    return fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=64))


# PROTOCOL §2: a reaction is one emoji (one grapheme cluster as Unicode's emoji sequences build
# them), not text. The pictographic ranges are Unicode's Extended_Pictographic blocks; a
# sequence is pictographs joined by ZWJ, each optionally with a presentation selector, a skin
# tone and tag characters (subdivision flags); a country flag is two regional indicators; a
# keycap is [0-9#*] with U+20E3.
EMOJI_MAX_CODE_POINTS = 16
_PICTOGRAPH = (
    "\u00a9\u00ae\u203c\u2049\u2122\u2139\u2194-\u2199\u21a9\u21aa\u231a\u231b\u2328\u23cf\u23e9-\u23f3"
    "\u23f8-\u23fa\u24c2\u25aa\u25ab\u25b6\u25c0\u25fb-\u25fe\u2600-\u27bf\u2934\u2935\u2b05-\u2b07\u2b1b\u2b1c"
    "\u2b50\u2b55\u3030\u303d\u3297\u3299\U0001f000-\U0001f1e5\U0001f200-\U0001f3fa\U0001f400-\U0001faff"
    "\U0001fc00-\U0001fffd"
)
_ELEMENT = f"[{_PICTOGRAPH}][\ufe0e\ufe0f]?[\U0001f3fb-\U0001f3ff]?(?:[\U000e0020-\U000e007e]+\U000e007f)?"
_EMOJI = re.compile(f"(?:[\U0001f1e6-\U0001f1ff]{{2}}|[0-9#*]\ufe0f?\u20e3|{_ELEMENT}(?:\u200d{_ELEMENT})*)")


def _one_emoji(value: str) -> bool:
    if len(value) > EMOJI_MAX_CODE_POINTS or not _EMOJI.fullmatch(value):
        raise ValidationError(f"must be one emoji (at most {EMOJI_MAX_CODE_POINTS} code points)")
    return True


def emoji_field(**kwargs) -> fields.String:
    return fields.String(validate=_one_emoji, metadata={"description": "one emoji, compared code point for code point"}, **kwargs)
