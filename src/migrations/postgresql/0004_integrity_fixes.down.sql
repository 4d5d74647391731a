-- ztoq-migration: 4 integrity_fixes -
-- Restores the schema of revision 3: association tables without primary key and with
-- nullable columns plus their original indexes, the duplicate index
-- ix_entity_batch_state_project_key, no unique key on custom_field_values.
-- Rows removed by the upgrade (duplicates, NULL pairs) do not come back.

ALTER TABLE custom_field_values
    DROP CONSTRAINT uq_custom_field_value_entity;

CREATE INDEX ix_entity_batch_state_project_key ON entity_batch_state (project_key);

ALTER TABLE case_version_association
    DROP CONSTRAINT case_version_association_pkey,
    ALTER COLUMN test_case_id DROP NOT NULL,
    ALTER COLUMN version_id DROP NOT NULL;
CREATE INDEX idx_case_version ON case_version_association (test_case_id, version_id);

ALTER TABLE case_label_association
    DROP CONSTRAINT case_label_association_pkey,
    ALTER COLUMN test_case_id DROP NOT NULL,
    ALTER COLUMN label_id DROP NOT NULL;
CREATE INDEX idx_case_label ON case_label_association (test_case_id, label_id);
