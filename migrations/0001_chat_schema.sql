-- The chat schema walcast's demo and tests rely on: tenants, their
-- conversations, the messages in them and typing indicators, plus the
-- publication walcast reads.
--
-- conversations uses REPLICA IDENTITY FULL so that an UPDATE carries the old
-- status and assignment (the widget shows "You're now connected to ..." from
-- the old/new pair). The other tables keep the primary key as identity.

CREATE TABLE tenants (
    id   uuid PRIMARY KEY,
    name text
);

CREATE TABLE conversations (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id         uuid NOT NULL REFERENCES tenants,
    visitor_id        text NOT NULL,
    status            text NOT NULL DEFAULT 'waiting' CHECK (status IN ('waiting', 'active', 'closed')),
    assigned_agent_id text,
    subject           text,
    created_at        timestamptz DEFAULT now(),
    updated_at        timestamptz DEFAULT now()
);
ALTER TABLE conversations REPLICA IDENTITY FULL;
CREATE INDEX conversations_tenant_idx ON conversations (tenant_id, updated_at DESC);

CREATE TABLE messages (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    conversation_id uuid NOT NULL REFERENCES conversations,
    tenant_id       uuid NOT NULL,
    sender_type     text NOT NULL CHECK (sender_type IN ('visitor', 'agent', 'bot', 'system')),
    sender_id       text,
    body            text NOT NULL,
    metadata        jsonb NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX messages_conversation_idx ON messages (conversation_id, created_at);

CREATE TABLE typing_indicators (
    conversation_id  uuid,
    participant_id   text,
    participant_type text,
    is_typing        boolean,
    updated_at       timestamptz DEFAULT now(),
    PRIMARY KEY (conversation_id, participant_id)
);

CREATE PUBLICATION walcast FOR TABLE tenants, conversations, messages, typing_indicators;
