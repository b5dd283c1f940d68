// The pure rules of the monitoring center (DESIGN.md §9, issue 4; seeds 002 and 003), one header
// for the modules that use them all (the relay's monitoring center, relayctl's monitoring
// commands, the store's monitoring records). Each rule has its own header, which says what its
// callers may rely on:
//   compatibility.h         units and software judged from a device's structure
//   troubles.h              troubles judged from its error logs
//   supply_forecast.h       supply forecasts from its level readings
//   notification_routing.h  who is told: e-mail addresses and webhooks
// Include the one you need where only one is used.
#pragma once

#include "core/compatibility.h"
#include "core/notification_routing.h"
#include "core/supply_forecast.h"
#include "core/troubles.h"
