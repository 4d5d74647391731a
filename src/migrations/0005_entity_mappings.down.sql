-- ztoq-migration: 5 entity_mappings -
-- Drops entity_mappings.

DROP INDEX idx_entity_mapping_target;
DROP TABLE entity_mappings;
