"""Stored procedures of the MySQL/MariaDB schema. Each one's name carries a version: a
revision that changes one creates the next version beside it, so the text of a version never
changes once a migration has created it (migrations import it from here, and storage.tables has
`metadata.create_all` make it as well). For the same reason the texts spell storage.tables'
constants out: 1 is CONVERSATION_DIRECT, MSG_TEXT and STATUS_UNREAD, 2 is STATUS_READ."""

APPEND_BATCH_V1 = "hubbub_append_batch_v1"

# The group commit of storage.message_batch in one round trip: a batch of text messages stored
# and committed as append_message would store them one by one, in one transaction.
#
# `batch` is {"advance": [[conversation_id, count], ...] by conversation id,
#             "rows": [[conversation_id, sender_id, content, client_msg_id or "", back, previous_back], ...],
#             "markers": [[conversation_id, sender_id, back], ...] one per pair}.
# A row's seq is its conversation's new last_seq minus `back`; `previous_back` is `back` of the
# same sender's previous row in that conversation, or -1; a marker's `back` is that of the
# sender's last row there. (The caller counts; window functions cost a temporary table each.)
# The conversations are locked (and their last_seq advanced) first, in id order: `advance`
# drives the join (STRAIGHT_JOIN) and each conversation is looked up by its key (FORCE INDEX:
# on a small table the optimizer would rather scan it, locking in another order), so two
# batches, of this process or another, always lock in the same order and cannot deadlock.
# Every later locking read is driven the same way: a multi-table UPDATE locks the rows it reads
# of the other tables too, and a scan would lock conversations outside the batch.
# Membership is read under those locks, so a member removed by a committed transaction (which
# takes the same lock) cannot send.
#
# Returns one row: (refused, appended, members), JSON.
# - refused: [[conversation_id, sender_id], ...] of senders who are not members; nothing is
#   written then (rolled back), the other two are NULL.
# - appended: per row, in any order, [ordinal (1-based, in `rows`), id, seq, type,
#   direct_low_id, direct_high_id, the sender's read marker before it, read_peer (1 when the
#   message made the peer's unread messages read), conversation_id, sender_id].
# - members: [[conversation_id, user_id], ...] for the batch's group conversations, read in
#   the transaction; NULL without groups.
# The marker after a message is the message's seq; in a direct conversation, sending past the
# peer's unread messages makes them read (seed 000), as `mark_direct_read` does. Any error
# (a duplicate client_msg_id, say) rolls everything back and is raised to the caller.
APPEND_BATCH_V1_DDL = f"""
    CREATE PROCEDURE {APPEND_BATCH_V1}(IN batch LONGTEXT, IN stamp DATETIME(3))
    MODIFIES SQL DATA SQL SECURITY INVOKER
    main: BEGIN
        DECLARE refused, appended, members LONGTEXT;
        DECLARE flagged, groups INT;
        DECLARE EXIT HANDLER FOR SQLEXCEPTION BEGIN ROLLBACK; RESIGNAL; END;
        START TRANSACTION;
        UPDATE JSON_TABLE(batch, '$.advance[*]' COLUMNS (conversation_id BIGINT PATH '$[0]', n BIGINT PATH '$[1]')) AS k
            STRAIGHT_JOIN conversations AS c FORCE INDEX (PRIMARY) ON c.id = k.conversation_id
        SET c.last_seq = c.last_seq + k.n, c.updated_at = stamp;
        SELECT JSON_ARRAYAGG(JSON_ARRAY(k.conversation_id, k.sender_id)) INTO refused
        FROM JSON_TABLE(batch, '$.markers[*]' COLUMNS (conversation_id BIGINT PATH '$[0]', sender_id BIGINT PATH '$[1]')) AS k
        LEFT JOIN conversation_members AS m ON m.conversation_id = k.conversation_id AND m.user_id = k.sender_id
        WHERE m.user_id IS NULL;
        IF refused IS NOT NULL THEN
            ROLLBACK;
            SELECT refused, NULL, NULL;
            LEAVE main;
        END IF;
        INSERT INTO messages (conversation_id, seq, sender_id, receiver_id, content, msg_type, status, client_msg_id, created_at)
        SELECT b.conversation_id, c.last_seq - b.back, b.sender_id, IF(c.direct_low_id = b.sender_id, c.direct_high_id, c.direct_low_id),
            b.content, 1, 1, NULLIF(b.client_msg_id, ''), stamp
        FROM JSON_TABLE(batch, '$.rows[*]' COLUMNS (
            conversation_id BIGINT PATH '$[0]', sender_id BIGINT PATH '$[1]', content LONGTEXT PATH '$[2]',
            client_msg_id VARCHAR(255) PATH '$[3]', back BIGINT PATH '$[4]')) AS b
        JOIN conversations AS c ON c.id = b.conversation_id;
        SELECT JSON_ARRAYAGG(JSON_ARRAY(q.ord, m.id, q.seq, q.type, q.direct_low_id, q.direct_high_id, q.previous, q.read_peer,
                q.conversation_id, q.sender_id)),
            SUM(q.read_peer), SUM(q.type <> 1)
        INTO appended, flagged, groups
        FROM (
            SELECT p.*, IF(p.type = 1 AND p.previous < p.seq - 1 AND EXISTS (
                SELECT 1 FROM messages AS u WHERE u.conversation_id = p.conversation_id AND u.seq > p.previous AND u.seq < p.seq
                    AND u.sender_id <> p.sender_id AND u.status = 1), 1, 0) AS read_peer
            FROM (
                SELECT b.ord, b.conversation_id, b.sender_id, c.last_seq - b.back AS seq, c.type, c.direct_low_id, c.direct_high_id,
                    GREATEST(mem.last_read_seq, IF(b.previous_back < 0, 0, c.last_seq - b.previous_back)) AS previous
                FROM JSON_TABLE(batch, '$.rows[*]' COLUMNS (
                    ord FOR ORDINALITY, conversation_id BIGINT PATH '$[0]', sender_id BIGINT PATH '$[1]', back BIGINT PATH '$[4]',
                    previous_back BIGINT PATH '$[5]')) AS b
                JOIN conversations AS c ON c.id = b.conversation_id
                JOIN conversation_members AS mem ON mem.conversation_id = b.conversation_id AND mem.user_id = b.sender_id
            ) AS p
        ) AS q
        JOIN messages AS m ON m.conversation_id = q.conversation_id AND m.seq = q.seq;
        UPDATE JSON_TABLE(batch, '$.markers[*]' COLUMNS (conversation_id BIGINT PATH '$[0]', sender_id BIGINT PATH '$[1]', back BIGINT PATH '$[2]')) AS k
            STRAIGHT_JOIN conversations AS c FORCE INDEX (PRIMARY) ON c.id = k.conversation_id
            STRAIGHT_JOIN conversation_members AS mem FORCE INDEX (PRIMARY) ON mem.conversation_id = k.conversation_id AND mem.user_id = k.sender_id
        SET mem.last_read_seq = GREATEST(mem.last_read_seq, c.last_seq - k.back);
        IF flagged > 0 THEN
            UPDATE (
                SELECT a.conversation_id, a.sender_id, MAX(a.seq) AS seq
                FROM JSON_TABLE(appended, '$[*]' COLUMNS (
                    seq BIGINT PATH '$[2]', read_peer INT PATH '$[7]', conversation_id BIGINT PATH '$[8]', sender_id BIGINT PATH '$[9]')) AS a
                WHERE a.read_peer = 1
                GROUP BY a.conversation_id, a.sender_id
            ) AS k
            STRAIGHT_JOIN messages AS m FORCE INDEX (uq_messages_conversation_id_seq) ON m.conversation_id = k.conversation_id AND m.seq < k.seq
            SET m.status = 2
            WHERE m.sender_id <> k.sender_id AND m.status = 1;
        END IF;
        IF groups > 0 THEN
            SELECT JSON_ARRAYAGG(JSON_ARRAY(mem.conversation_id, mem.user_id)) INTO members
            FROM conversation_members AS mem
            JOIN (
                SELECT DISTINCT a.conversation_id
                FROM JSON_TABLE(appended, '$[*]' COLUMNS (type INT PATH '$[3]', conversation_id BIGINT PATH '$[8]')) AS a
                WHERE a.type <> 1
            ) AS g ON mem.conversation_id = g.conversation_id;
        END IF;
        COMMIT;
        SELECT NULL, appended, members;
    END
"""

DROP_APPEND_BATCH_V1_DDL = f"DROP PROCEDURE IF EXISTS {APPEND_BATCH_V1}"

APPEND_BATCH_V2 = "hubbub_append_batch_v2"

# Version 2 (revision 0012) also writes each message's search terms: `rows` carry a seventh
# value, the message's terms (storage.search_terms), and a row with terms gets its
# `message_search` row in the same transaction. Everything else is version 1, word for word.
_V2_AFTER = "        JOIN conversations AS c ON c.id = b.conversation_id;\n"
_V2_SEARCH_INSERT = """        INSERT INTO message_search (message_id, conversation_id, terms)
        SELECT m.id, b.conversation_id, b.terms
        FROM JSON_TABLE(batch, '$.rows[*]' COLUMNS (
            conversation_id BIGINT PATH '$[0]', back BIGINT PATH '$[4]', terms LONGTEXT PATH '$[6]')) AS b
        JOIN conversations AS c ON c.id = b.conversation_id
        JOIN messages AS m ON m.conversation_id = b.conversation_id AND m.seq = c.last_seq - b.back
        WHERE b.terms <> '';
"""
assert APPEND_BATCH_V1_DDL.count(_V2_AFTER) == 1
APPEND_BATCH_V2_DDL = APPEND_BATCH_V1_DDL.replace(f"CREATE PROCEDURE {APPEND_BATCH_V1}(", f"CREATE PROCEDURE {APPEND_BATCH_V2}(").replace(
    _V2_AFTER, _V2_AFTER + _V2_SEARCH_INSERT
)

DROP_APPEND_BATCH_V2_DDL = f"DROP PROCEDURE IF EXISTS {APPEND_BATCH_V2}"

APPEND_BATCH_V3 = "hubbub_append_batch_v3"

# Version 3 (revision 0016) also refuses a sender whom the other member of a direct conversation
# blocked (user_blocks), read under the conversation's lock as membership is: a block committed
# before the batch stops the message, and the send path needs no lookup of its own. `refused`
# entries carry a third value: 1 when the sender is a member refused for a block, 0 when not a
# member. Everything else is version 2, word for word.
_V3_REFUSED_V2 = """        SELECT JSON_ARRAYAGG(JSON_ARRAY(k.conversation_id, k.sender_id)) INTO refused
        FROM JSON_TABLE(batch, '$.markers[*]' COLUMNS (conversation_id BIGINT PATH '$[0]', sender_id BIGINT PATH '$[1]')) AS k
        LEFT JOIN conversation_members AS m ON m.conversation_id = k.conversation_id AND m.user_id = k.sender_id
        WHERE m.user_id IS NULL;
"""
_V3_REFUSED = """        SELECT JSON_ARRAYAGG(JSON_ARRAY(k.conversation_id, k.sender_id, IF(m.user_id IS NULL, 0, 1))) INTO refused
        FROM JSON_TABLE(batch, '$.markers[*]' COLUMNS (conversation_id BIGINT PATH '$[0]', sender_id BIGINT PATH '$[1]')) AS k
        LEFT JOIN conversation_members AS m ON m.conversation_id = k.conversation_id AND m.user_id = k.sender_id
        LEFT JOIN conversations AS c ON c.id = k.conversation_id
        LEFT JOIN user_blocks AS b ON c.type = 1
            AND b.blocker_id = IF(c.direct_low_id = k.sender_id, c.direct_high_id, c.direct_low_id) AND b.blocked_id = k.sender_id
        WHERE m.user_id IS NULL OR b.blocked_id IS NOT NULL;
"""
assert APPEND_BATCH_V2_DDL.count(_V3_REFUSED_V2) == 1
APPEND_BATCH_V3_DDL = APPEND_BATCH_V2_DDL.replace(f"CREATE PROCEDURE {APPEND_BATCH_V2}(", f"CREATE PROCEDURE {APPEND_BATCH_V3}(").replace(
    _V3_REFUSED_V2, _V3_REFUSED
)

DROP_APPEND_BATCH_V3_DDL = f"DROP PROCEDURE IF EXISTS {APPEND_BATCH_V3}"

APPEND_BATCH = "hubbub_append_batch_v4"

# Version 4 (revision 0017) is version 3 without the `message_search` insert: the terms are
# written after the commit by the search indexer (handlers.services.search_indexer), which took
# ~75 us per message off a 64-message batch (bench/FINDINGS.md, "Search"). `rows` carry six
# values again.
APPEND_BATCH_DDL = APPEND_BATCH_V3_DDL.replace(f"CREATE PROCEDURE {APPEND_BATCH_V3}(", f"CREATE PROCEDURE {APPEND_BATCH}(").replace(
    _V2_SEARCH_INSERT, ""
)
assert APPEND_BATCH_DDL.count("message_search") == 0

DROP_APPEND_BATCH_DDL = f"DROP PROCEDURE IF EXISTS {APPEND_BATCH}"

APPEND_ONE = "hubbub_append_one_v1"

# A batch of one message (revision 0020): what an open loop at ordinary load sends nearly
# always. It does what APPEND_BATCH does for one row and answers in the same shape, but takes
# the message as plain arguments: each JSON_TABLE costs MariaDB ~60 us even for one row, and
# APPEND_BATCH expands its document five times. MariaDB's CPU per one-message batch ~575 -> ~350-420 us
# (bench/procedure_cost.py, bench/FINDINGS.md). Membership and blocks are read under the
# conversation's lock as in APPEND_BATCH; LAST_INSERT_ID() is exact for a one-row insert.
# `+ 0` on each number put into JSON: MariaDB writes a procedure's variables there as strings.
# The state is read from a one-row table so that a conversation that is gone gives a row of
# NULLs (refused as a stranger), not SELECT INTO's "no data" warning.
APPEND_ONE_DDL = f"""
    CREATE PROCEDURE {APPEND_ONE}(IN conversation BIGINT, IN sender BIGINT, IN body LONGTEXT, IN client_msg VARCHAR(255),
        IN stamp DATETIME(3))
    MODIFIES SQL DATA SQL SECURITY INVOKER
    main: BEGIN
        DECLARE seq_, low, high, previous, message_id BIGINT;
        DECLARE type_, member, blocked, read_peer INT;
        DECLARE members LONGTEXT;
        DECLARE EXIT HANDLER FOR SQLEXCEPTION BEGIN ROLLBACK; RESIGNAL; END;
        START TRANSACTION;
        UPDATE conversations SET last_seq = last_seq + 1, updated_at = stamp WHERE id = conversation;
        SELECT c.last_seq, c.type, c.direct_low_id, c.direct_high_id, m.user_id IS NOT NULL, b.blocked_id IS NOT NULL,
            COALESCE(m.last_read_seq, 0)
        INTO seq_, type_, low, high, member, blocked, previous
        FROM (SELECT conversation AS id) AS k
        LEFT JOIN conversations AS c ON c.id = k.id
        LEFT JOIN conversation_members AS m ON m.conversation_id = c.id AND m.user_id = sender
        LEFT JOIN user_blocks AS b ON c.type = 1
            AND b.blocker_id = IF(c.direct_low_id = sender, c.direct_high_id, c.direct_low_id) AND b.blocked_id = sender;
        IF NOT member OR blocked THEN
            ROLLBACK;
            SELECT JSON_ARRAY(JSON_ARRAY(conversation + 0, sender + 0, member + 0)), NULL, NULL;
            LEAVE main;
        END IF;
        INSERT INTO messages (conversation_id, seq, sender_id, receiver_id, content, msg_type, status, client_msg_id, created_at)
        VALUES (conversation, seq_, sender, IF(low = sender, high, low), body, 1, 1, NULLIF(client_msg, ''), stamp);
        SET message_id = LAST_INSERT_ID();
        SET read_peer = type_ = 1 AND previous < seq_ - 1 AND EXISTS (
            SELECT 1 FROM messages AS u WHERE u.conversation_id = conversation AND u.seq > previous AND u.seq < seq_
                AND u.sender_id <> sender AND u.status = 1);
        IF read_peer THEN
            UPDATE messages FORCE INDEX (uq_messages_conversation_id_seq) SET status = 2
            WHERE conversation_id = conversation AND seq < seq_ AND sender_id <> sender AND status = 1;
        END IF;
        UPDATE conversation_members SET last_read_seq = GREATEST(last_read_seq, seq_) WHERE conversation_id = conversation AND user_id = sender;
        IF type_ <> 1 THEN
            SELECT JSON_ARRAYAGG(JSON_ARRAY(conversation_id, user_id)) INTO members FROM conversation_members WHERE conversation_id = conversation;
        END IF;
        COMMIT;
        SELECT NULL, JSON_ARRAY(JSON_ARRAY(1, message_id + 0, seq_ + 0, type_ + 0, low + 0, high + 0, previous + 0, read_peer + 0,
            conversation + 0, sender + 0)), members;
    END
"""

DROP_APPEND_ONE_DDL = f"DROP PROCEDURE IF EXISTS {APPEND_ONE}"
