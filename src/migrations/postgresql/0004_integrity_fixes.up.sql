-- ztoq-migration: 4 integrity_fixes -
-- Integrity fixes for weaknesses of the original schema (reference section 10, item 17).
--
-- 1. case_label_association and case_version_association get a composite primary key
--    and NOT NULL columns. Pairs with a NULL side are deleted (they link nothing) and
--    duplicate pairs are reduced to one row first.
--    idx_case_label and idx_case_version are dropped: the primary key index covers the
--    same columns in the same order.
-- 2. ix_entity_batch_state_project_key is dropped: it duplicates idx_entity_batch_project.
-- 3. custom_field_values gets the constraint uq_custom_field_value_entity on
--    (field_id, entity_type, entity_id). Existing duplicates make this migration fail.

DELETE FROM case_label_association
    WHERE test_case_id IS NULL OR label_id IS NULL;
DELETE FROM case_label_association a
    USING case_label_association b
    WHERE a.test_case_id = b.test_case_id
      AND a.label_id = b.label_id
      AND a.ctid > b.ctid;
DROP INDEX idx_case_label;
ALTER TABLE case_label_association
    ALTER COLUMN test_case_id SET NOT NULL,
    ALTER COLUMN label_id SET NOT NULL,
    ADD CONSTRAINT case_label_association_pkey PRIMARY KEY (test_case_id, label_id);

DELETE FROM case_version_association
    WHERE test_case_id IS NULL OR version_id IS NULL;
DELETE FROM case_version_association a
    USING case_version_association b
    WHERE a.test_case_id = b.test_case_id
      AND a.version_id = b.version_id
      AND a.ctid > b.ctid;
DROP INDEX idx_case_version;
ALTER TABLE case_version_association
    ALTER COLUMN test_case_id SET NOT NULL,
    ALTER COLUMN version_id SET NOT NULL,
    ADD CONSTRAINT case_version_association_pkey PRIMARY KEY (test_case_id, version_id);

DROP INDEX ix_entity_batch_state_project_key;

ALTER TABLE custom_field_values
    ADD CONSTRAINT uq_custom_field_value_entity UNIQUE (field_id, entity_type, entity_id);
