package main

import "os"

// adminTokenFromEnv reads HALLPASS_ADMIN_TOKEN. It is deliberately not a
// flag: command lines are visible to every user of the machine.
func adminTokenFromEnv() string { return os.Getenv("HALLPASS_ADMIN_TOKEN") }
