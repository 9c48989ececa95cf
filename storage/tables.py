"""The schema, as SQLAlchemy Core tables. `users` and `messages` follow the development
document (seed 000) column for column; `messages.receiver_id` is nullable because a group
message has no single receiver (the seed's table was 1:1 only and announced groups to come).

Times are naive UTC `DATETIME(3)`; the server fills them in, so a row it has just written
never has to be read back."""

from sqlalchemy import (
    DDL,
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import FunctionElement

from storage.procedures import APPEND_BATCH_DDL, APPEND_ONE_DDL, DROP_APPEND_BATCH_DDL, DROP_APPEND_ONE_DDL

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_N_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

MYSQL_TABLE_OPTIONS = {
    "mysql_engine": "InnoDB",
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_unicode_ci",
}

# BIGINT UNSIGNED on MySQL as in seed 000; SQLite only auto-increments an INTEGER primary key.
Id = BigInteger().with_variant(mysql.BIGINT(unsigned=True), "mysql", "mariadb").with_variant(Integer(), "sqlite")
TinyInt = SmallInteger().with_variant(mysql.TINYINT(), "mysql", "mariadb")
Millis = DateTime().with_variant(mysql.DATETIME(fsp=3), "mysql", "mariadb")


def case_insensitive(length: int) -> String:
    """utf8mb4_unicode_ci already ignores case on MySQL; SQLite needs NOCASE for the same."""
    return String(length).with_variant(String(length, collation="NOCASE"), "sqlite")


class now_ms(FunctionElement):
    """CURRENT_TIMESTAMP with millisecond precision, as a column default."""

    type = DateTime()
    inherit_cache = True


class now_ms_on_update(now_ms):
    """Seed 000's `DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3)`; SQLite has no
    ON UPDATE, so there the server sets `updated_at` itself on every update."""

    inherit_cache = True


@compiles(now_ms, "mysql")
@compiles(now_ms, "mariadb")
def _now_ms_mysql(element, compiler, **kw):
    return "CURRENT_TIMESTAMP(3)"


@compiles(now_ms_on_update, "mysql")
@compiles(now_ms_on_update, "mariadb")
def _now_ms_on_update_mysql(element, compiler, **kw):
    return "CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3)"


@compiles(now_ms)
def _now_ms_sqlite(element, compiler, **kw):
    return "(strftime('%Y-%m-%d %H:%M:%f', 'now'))"


users = Table(
    "users",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("username", case_insensitive(32), nullable=False, unique=True),
    Column("email", case_insensitive(128), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=False),
    Column("nickname", String(64), nullable=True),
    Column("avatar", String(255), nullable=True),
    Column("status", TinyInt, server_default="1", comment="1 normal, 0 disabled"),
    # Every token carries the generation it was issued in; bumping it revokes them all at once.
    Column("token_generation", Integer, nullable=False, server_default="0", comment="tokens of another generation are revoked"),
    # A password change revokes the user's other tokens by bumping the generation, but not the
    # token that asked for it: that one's id is kept here until the generation is bumped again.
    Column("kept_token_jti", String(36), nullable=True, comment="a token valid whatever its generation: the one that changed the password"),
    Column("deleted_at", Millis, nullable=True, comment="set when the user deleted the account"),
    # Two-factor authentication: the TOTP secret, pending until enabled; a code works once.
    Column("totp_secret", String(64), nullable=True, comment="base32; pending until totp_enabled_at"),
    Column("totp_enabled_at", Millis, nullable=True),
    Column("totp_last_step", BigInteger, nullable=True, comment="the time step of the last code accepted"),
    Column("created_at", Millis, nullable=False, server_default=now_ms()),
    Column("updated_at", Millis, nullable=False, server_default=now_ms_on_update()),
    **MYSQL_TABLE_OPTIONS,
)

CONVERSATION_DIRECT = 1
CONVERSATION_GROUP = 2

conversations = Table(
    "conversations",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("type", TinyInt, nullable=False, comment="1 direct, 2 group"),
    Column("name", String(64), nullable=True),
    Column("owner_id", Id, ForeignKey("users.id"), nullable=True),
    # A direct conversation's two users, lower id first: the unique pair makes it one per pair.
    Column("direct_low_id", Id, ForeignKey("users.id"), nullable=True),
    Column("direct_high_id", Id, ForeignKey("users.id"), nullable=True),
    Column("last_seq", BigInteger, nullable=False, server_default="0"),
    Column("recall_window_seconds", Integer, nullable=True, comment="NULL: the server's setting"),
    Column("edit_window_seconds", Integer, nullable=True, comment="NULL: the server's setting"),
    Column("mentions_all", TinyInt, nullable=False, server_default="1", comment="1: every member may @all; 0: the owner only"),
    # Counts the changes (edits, recalls) to messages already sent, for catch-up by `changed_after`.
    Column("last_change_seq", BigInteger, nullable=False, server_default="0"),
    Column("created_at", Millis, nullable=False, server_default=now_ms()),
    Column("updated_at", Millis, nullable=False, server_default=now_ms()),
    UniqueConstraint("direct_low_id", "direct_high_id"),
    **MYSQL_TABLE_OPTIONS,
)

ROLE_MEMBER = 1
ROLE_OWNER = 2
# A group's moderator besides its owner (removes members, recalls their messages); the column's
# comment predates it.
ROLE_ADMIN = 3

conversation_members = Table(
    "conversation_members",
    metadata,
    Column("conversation_id", Id, ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", Id, ForeignKey("users.id"), primary_key=True),
    Column("role", TinyInt, nullable=False, server_default="1", comment="1 member, 2 owner"),
    Column("last_read_seq", BigInteger, nullable=False, server_default="0"),
    Column("joined_at", Millis, nullable=False, server_default=now_ms()),
    # The member's own settings of the conversation (PROTOCOL §2, ConversationVO).
    Column("muted", TinyInt, nullable=False, server_default="0"),
    Column("pinned", TinyInt, nullable=False, server_default="0"),
    # Archived while the conversation's last_seq is at most this: its next message ends the
    # archiving without the send path touching member rows.
    Column("archived_seq", BigInteger, nullable=True, comment="archived while last_seq <= it; NULL: not archived"),
    Index(None, "user_id"),
    **MYSQL_TABLE_OPTIONS,
)

MSG_TEXT = 1
MSG_IMAGE = 2
MSG_FILE = 3

STATUS_UNREAD = 1
STATUS_READ = 2
STATUS_RECALLED = 3

messages = Table(
    "messages",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("sender_id", Id, nullable=False),
    Column("receiver_id", Id, nullable=True, comment="the peer of a direct message; NULL in a group"),
    Column("content", Text, nullable=False),
    Column("msg_type", TinyInt, nullable=False, server_default="1", comment="1 text, 2 image, 3 file"),
    Column("status", TinyInt, nullable=False, server_default="1", comment="1 unread, 2 read, 3 recalled"),
    Column("created_at", Millis, nullable=False, server_default=now_ms()),
    Column("conversation_id", Id, ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("client_msg_id", String(64), nullable=True),
    Column("file_id", Id, ForeignKey("files.id"), nullable=True, comment="the file an image or file message carries"),
    Column("edited_at", Millis, nullable=True),
    Column("change_seq", BigInteger, nullable=False, server_default="0", comment="the conversation's change seq of its latest change"),
    # No foreign key: deleting a conversation deletes its messages in one statement, which
    # InnoDB would refuse for a reply deleted after the message it quotes.
    Column("reply_to_id", Id, nullable=True, comment="the quoted message, in the same conversation"),
    # Where a forwarded message came from; no foreign key, for the same reason as reply_to_id.
    Column("forwarded_sender_id", Id, nullable=True, comment="a forwarded message's original sender"),
    Column("forwarded_message_id", Id, nullable=True, comment="the message a forwarded one copies"),
    Column("recalled_by", Id, nullable=True, comment="a moderator who recalled another member's message"),
    Index("idx_sender_receiver", "sender_id", "receiver_id"),
    Index("idx_created", "created_at"),
    # Serves keyset paging by seq as well as gaplessness.
    UniqueConstraint("conversation_id", "seq"),
    UniqueConstraint("sender_id", "client_msg_id"),
    # Counting recalled messages past a read marker without scanning the unread ones.
    Index(None, "conversation_id", "status", "seq"),
    Index(None, "file_id"),
    **MYSQL_TABLE_OPTIONS,
)

# What happened to a group besides its messages (created, members added, removed or leaving,
# renamed, roles, a new owner), in its history among the messages. Not in `messages`: a notice
# takes no seq, so seqs stay gapless and count only messages (unread counts, read markers).
# `after_seq` is the conversation's last_seq when it happened, read under the conversation's
# row lock, so it sits after message `after_seq` and before message `after_seq + 1`.
conversation_notices = Table(
    "conversation_notices",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("conversation_id", Id, ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False),
    Column("after_seq", BigInteger, nullable=False, comment="the conversation's last_seq when it happened"),
    Column("kind", String(16), nullable=False, comment="created, added, removed, left, renamed, role, owner"),
    Column("actor_id", Id, ForeignKey("users.id"), nullable=False),
    Column("subject_id", Id, ForeignKey("users.id"), nullable=True, comment="the member added, removed, promoted..."),
    Column("data", Text, nullable=True, comment="JSON: the new name, the new role"),
    Column("created_at", Millis, nullable=False),
    # A history page's notices: one range of this index.
    Index("ix_conversation_notices_page", "conversation_id", "after_seq", "id"),
    **MYSQL_TABLE_OPTIONS,
)

# The versions an edit replaced; the current one stays in `messages`.
message_edits = Table(
    "message_edits",
    metadata,
    Column("message_id", Id, ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True),
    Column("version", Integer, primary_key=True, autoincrement=False, comment="1 is the original"),
    Column("content", Text, nullable=False),
    Column("created_at", Millis, nullable=False, comment="when this version was written"),
    **MYSQL_TABLE_OPTIONS,
)

# One row per change to a sent message, so that catch-up by change seq reads only changed
# messages and the send path keeps its indexes on `messages` as they are.
message_changes = Table(
    "message_changes",
    metadata,
    Column("conversation_id", Id, ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True),
    Column("change_seq", BigInteger, primary_key=True, autoincrement=False),
    Column("message_id", Id, ForeignKey("messages.id", ondelete="CASCADE"), nullable=False),
    Index(None, "message_id"),
    **MYSQL_TABLE_OPTIONS,
)

# An emoji reaction: one per user per emoji per message. The emoji compares byte for byte:
# utf8mb4_unicode_ci gives most emoji the same weight, so "👍" would equal "🎉".
message_reactions = Table(
    "message_reactions",
    metadata,
    Column("message_id", Id, ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True),
    Column("emoji", String(64).with_variant(mysql.VARCHAR(64, collation="utf8mb4_bin"), "mysql", "mariadb"), primary_key=True),
    Column("user_id", Id, ForeignKey("users.id"), primary_key=True),
    # Deleting a conversation deletes its reactions in one statement, without a join.
    Column("conversation_id", Id, ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", Millis, nullable=False),
    Index(None, "conversation_id"),
    **MYSQL_TABLE_OPTIONS,
)

message_mentions = Table(
    "message_mentions",
    metadata,
    Column("message_id", Id, ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", Id, ForeignKey("users.id"), primary_key=True),
    Column("conversation_id", Id, ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False),
    Column("seq", BigInteger, nullable=False),
    # A member's mentions past its read marker: one range of this index.
    Index("ix_message_mentions_user_conversation_seq", "user_id", "conversation_id", "seq"),
    Index(None, "conversation_id"),
    **MYSQL_TABLE_OPTIONS,
)

# The search terms of each message that has any (storage.search_terms), written after the
# message's commit, rewritten by an edit, deleted by a recall. A table of its own so that
# `messages` keeps seed 000's shape. MySQL/MariaDB index the terms with a FULLTEXT index; SQLite
# with the FTS5 table of SQLITE_SEARCH_DDL (a virtual table, which metadata cannot hold), kept in
# step by triggers. No foreign keys (revision 0018): their checks took shared locks on the
# messages and conversations rows that the group commit locks, and deadlocked it; whatever
# deletes a message or conversation deletes its terms itself, and storage.search.index_messages
# removes terms it wrote for a message deleted or recalled meanwhile.
message_search = Table(
    "message_search",
    metadata,
    Column("message_id", Id, primary_key=True, autoincrement=False),
    Column("conversation_id", Id, nullable=False),
    # A 4,000-character CJK message has ~8,000 terms: more than TEXT's 64 KB.
    Column("terms", Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb"), nullable=False),
    Index(None, "conversation_id"),
    Index("ft_message_search_terms", "terms", mysql_prefix="FULLTEXT").ddl_if(dialect=("mysql", "mariadb")),
    **MYSQL_TABLE_OPTIONS,
)

SEARCH_FTS = "message_search_fts"
# External content (the terms are stored once, in message_search); `detail=none` keeps no
# positions, which whole-term AND queries do not need; every term is ASCII (search_terms).
SQLITE_SEARCH_DDL = (
    f"CREATE VIRTUAL TABLE {SEARCH_FTS} USING fts5(terms, content='message_search', content_rowid='message_id', "
    "tokenize='ascii', detail='none')",
    f"""CREATE TRIGGER message_search_ai AFTER INSERT ON message_search BEGIN
        INSERT INTO {SEARCH_FTS}(rowid, terms) VALUES (new.message_id, new.terms); END""",
    f"""CREATE TRIGGER message_search_ad AFTER DELETE ON message_search BEGIN
        INSERT INTO {SEARCH_FTS}({SEARCH_FTS}, rowid, terms) VALUES ('delete', old.message_id, old.terms); END""",
    f"""CREATE TRIGGER message_search_au AFTER UPDATE ON message_search BEGIN
        INSERT INTO {SEARCH_FTS}({SEARCH_FTS}, rowid, terms) VALUES ('delete', old.message_id, old.terms);
        INSERT INTO {SEARCH_FTS}(rowid, terms) VALUES (new.message_id, new.terms); END""",
)
DROP_SQLITE_SEARCH_DDL = f"DROP TABLE IF EXISTS {SEARCH_FTS}"

files = Table(
    "files",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("owner_id", Id, ForeignKey("users.id"), nullable=False),
    Column("name", String(255), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("mime", String(127), nullable=False),
    Column("storage_key", String(128), nullable=False, unique=True),
    Column("created_at", Millis, nullable=False, server_default=now_ms()),
    Index(None, "owner_id"),
    **MYSQL_TABLE_OPTIONS,
)

# Logged-out tokens, by JWT id, kept until the token would have expired anyway.
revoked_tokens = Table(
    "revoked_tokens",
    metadata,
    Column("jti", String(36), primary_key=True),
    Column("expires_at", Millis, nullable=False),
    Index(None, "expires_at"),
    **MYSQL_TABLE_OPTIONS,
)

# A login: one per device. Its access tokens carry its id, so revoking it is one row and the
# check of a token one primary-key lookup.
auth_sessions = Table(
    "auth_sessions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("user_id", Id, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("device", String(128), nullable=False),
    Column("created_at", Millis, nullable=False),
    Column("last_seen_at", Millis, nullable=False),
    Column("expires_at", Millis, nullable=False, comment="the refresh token's expiry; each refresh moves it on"),
    Column("revoked_at", Millis, nullable=True),
    Index(None, "user_id"),
    **MYSQL_TABLE_OPTIONS,
)

# A session's refresh tokens, hashed: the current one has no `rotated_at`; a rotated one
# presented again means it was stolen, and revokes the session.
refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True, comment="SHA-256 of the token, hex"),
    Column("session_id", Id, ForeignKey("auth_sessions.id", ondelete="CASCADE"), nullable=False),
    Column("rotated_at", Millis, nullable=True, comment="NULL: the session's current refresh token"),
    Index(None, "session_id"),
    **MYSQL_TABLE_OPTIONS,
)

# Who blocked whom: the pair is the key, so checking a direct send is one primary-key lookup.
user_blocks = Table(
    "user_blocks",
    metadata,
    Column("blocker_id", Id, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("blocked_id", Id, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("created_at", Millis, nullable=False),
    Index(None, "blocked_id"),
    **MYSQL_TABLE_OPTIONS,
)

# The usernames of deleted accounts, held back from registration until `retired_until`.
retired_usernames = Table(
    "retired_usernames",
    metadata,
    Column("username", case_insensitive(32), primary_key=True),
    Column("retired_until", Millis, nullable=False),
    **MYSQL_TABLE_OPTIONS,
)

# Two-factor recovery codes, hashed; each works once.
recovery_codes = Table(
    "recovery_codes",
    metadata,
    Column("user_id", Id, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("code_hash", String(64), primary_key=True, comment="SHA-256 of the user id and the code, hex"),
    Column("used_at", Millis, nullable=True),
    **MYSQL_TABLE_OPTIONS,
)

# The group commit's stored procedures are part of the MySQL schema: create_all makes them as the
# migrations do.
for create, drop in ((APPEND_BATCH_DDL, DROP_APPEND_BATCH_DDL), (APPEND_ONE_DDL, DROP_APPEND_ONE_DDL)):
    event.listen(metadata, "after_create", DDL(create).execute_if(dialect="mysql"))
    event.listen(metadata, "before_drop", DDL(drop).execute_if(dialect="mysql"))
for statement in SQLITE_SEARCH_DDL:
    event.listen(message_search, "after_create", DDL(statement).execute_if(dialect="sqlite"))
event.listen(message_search, "before_drop", DDL(DROP_SQLITE_SEARCH_DDL).execute_if(dialect="sqlite"))
