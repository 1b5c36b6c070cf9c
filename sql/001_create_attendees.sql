-- Who attends the workshop. Unqualified names land in the stack's schema (schemaName, default "workshop").
CREATE TABLE attendees (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    full_name     text        NOT NULL CHECK (length(btrim(full_name)) BETWEEN 1 AND 200),
    email         text        NOT NULL CHECK (email ~ '^[^@\s]+@[^@\s]+\.[^@\s]+$'),
    role          text        NOT NULL DEFAULT 'attendee' CHECK (role IN ('attendee', 'speaker', 'organizer')),
    company       text,
    registered_at timestamptz NOT NULL DEFAULT now()
);

-- One registration per address, whatever its case.
CREATE UNIQUE INDEX attendees_email_key ON attendees (lower(email));

COMMENT ON TABLE attendees IS 'People registered for the DevOps workshop';
