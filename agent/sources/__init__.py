"""Where sightings come from: ble, wifi, serial and replay share one small interface."""
