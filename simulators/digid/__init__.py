"""DigiD simulator: authenticates test persons by BSN and hands the identity back by artifact."""
