-- The append-only event store that is also the transactional outbox.
CREATE TABLE event_store (
    global_position bigserial PRIMARY KEY,
    event_id uuid NOT NULL UNIQUE,
    stream_id text NOT NULL,
    stream_version integer NOT NULL CHECK (stream_version > 0),
    event_type text NOT NULL,
    schema_version integer NOT NULL,
    data jsonb NOT NULL,
    metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
    occurred_at timestamptz NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    -- the writing transaction: the relay publishes a row only once every
    -- transaction that started before it has ended (see outbox.py)
    tx_id xid8 NOT NULL DEFAULT pg_current_xact_id(),
    published_at timestamptz,
    CONSTRAINT event_store_stream_version_unique UNIQUE (stream_id, stream_version)
);

CREATE INDEX event_store_unpublished ON event_store (global_position) WHERE published_at IS NULL;

-- Events a consumer has applied, recorded in the same transaction as the effect.
CREATE TABLE inbox (
    consumer text NOT NULL,
    event_id uuid NOT NULL,
    event_type text NOT NULL,
    topic text NOT NULL,
    partition integer NOT NULL,
    "offset" bigint NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);
