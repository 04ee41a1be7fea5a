-- A discoverable passkey names its account by the user handle it stores:
-- the sign-in finds the account by it.
CREATE UNIQUE INDEX users_user_handle ON users (user_handle);
