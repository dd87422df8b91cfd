// Chaos tier (npm run chaos:loopback, not part of CI): the partition scenarios of strict
// zero-loss mode on their own cluster, to be run again and again (the integration tier runs
// them once). Ports 15850-15899.
import { zeroLossSuite } from '../helpers/zero-loss-suite';
import { partitionScenarios } from '../helpers/zero-loss-scenarios';

partitionScenarios(zeroLossSuite('zlp', 15850));
