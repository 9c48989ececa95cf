"""Marshmallow fields shared by the request schemas of both transports."""

from marshmallow import fields, validate

def id_field(**kwargs) -> fields.Integer:
    return fields.Integer(strict=True, validate=validate.Range(min=1), **kwargs)


def seq_field(**kwargs) -> fields.Integer:
    return fields.Integer(strict=True, validate=validate.Range(min=0), **kwargs)


def content_field() -> fields.String:
    return fields.String(required=True, validate=validate.Length(min=1, error="must not be empty"))


def msg_type_field() -> fields.Integer:
    return fields.Integer(strict=True, load_default=1, validate=validate.OneOf([1, 2, 3]))


def reply_to_field() -> fields.Integer:
    """The id of the message a new one replies to (quotes)."""
    return fields.Integer(strict=True, load_default=None, allow_none=True, validate=validate.Range(min=1))


def client_msg_id_field() -> fields.String:
    return fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=64))
