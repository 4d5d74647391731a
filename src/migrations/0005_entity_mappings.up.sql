-- ztoq-migration: 5 entity_mappings -
-- Adds entity_mappings: for each project and mapping type, which target id a source id
-- was loaded as. A source id maps to exactly one target id (uq_entity_mapping).
-- ztoq-dialect: sqlite
-- created_at defaults to the current UTC time.
-- ztoq-dialect: postgresql
-- created_at defaults to the current UTC time, whatever the session time zone,
-- so that it agrees with SQLite, whose CURRENT_TIMESTAMP is UTC.
-- ztoq-dialect: end

CREATE TABLE entity_mappings (
    id {{id_serial}} NOT NULL,
    project_key VARCHAR(50) NOT NULL,
    mapping_type VARCHAR(50) NOT NULL,
    source_id VARCHAR(50) NOT NULL,
    target_id VARCHAR(50) NOT NULL,
    created_at {{timestamp}} DEFAULT {{utc_now}} NOT NULL,
    PRIMARY KEY (id),
    CONSTRAINT uq_entity_mapping UNIQUE (project_key, mapping_type, source_id)
);
CREATE INDEX idx_entity_mapping_target ON entity_mappings (project_key, mapping_type, target_id);
