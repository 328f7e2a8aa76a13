// admin.cpp - placeholder: the admin tool's room (changes to the user database, validated
// before COMMIT by maps/preview.h, audited in admin_audit).
