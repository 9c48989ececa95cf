"""Stored procedures of the MySQL/MariaDB schema. Each one's name carries a version: a
revision that changes one creates the next version beside it, so the text of a version never
changes once a migration has created it (migrations import it from here, and storage.tables has
`metadata.create_all` make it as well). For the same reason the texts spell storage.tables'
constants out: 1 is CONVERSATION_DIRECT, MSG_TEXT and STATUS_UNREAD, 2 is STATUS_READ."""

APPEND_BATCH = "hubbub_append_batch_v1"

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
APPEND_BATCH_DDL = f"""
    CREATE PROCEDURE {APPEND_BATCH}(IN batch LONGTEXT, IN stamp DATETIME(3))
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

DROP_APPEND_BATCH_DDL = f"DROP PROCEDURE IF EXISTS {APPEND_BATCH}"
