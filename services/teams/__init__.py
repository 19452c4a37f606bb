"""Client library and CLI with which a receiving body (county team, agency, coordination) works its referrals."""
