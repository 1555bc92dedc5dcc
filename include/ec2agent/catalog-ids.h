/* catalog-ids.h — stable journal MESSAGE_IDs, one per event type an operator acts on.
 * Made once with `systemd-id128 new`; never change one. Explained in units/ec2agent.catalog. */
#pragma once

#define MID_AGENT_STARTED       "c0754c1e20d749b38f0c9f89ede7b410"
#define MID_AGENT_STOPPED       "037e6e53ee2849e084a17f8455585760"
#define MID_SPOT_INTERRUPTION   "388bb64147334afd8de8ecf261c1b6c2"
#define MID_REBALANCE           "180898711b924636b4eccd9b9ade7f65"
#define MID_ASG_TERMINATE       "de9f8e1913a0438b85a62a066d053c6c"
#define MID_ASG_WARM_POOL       "52b028a18f7f464b90f934005f75de45"
#define MID_MAINTENANCE         "21ecf0be8387432ea213652160e8e70c"
#define MID_OOM_KILL            "fb8bb43dc4cd4184b607dde0703a0dca"
#define MID_FS_ERROR            "76ef17e190b347eab4775ec295bde4f8"
#define MID_FS_READONLY         "e9ccc7808acc45bc99354e65dac95e92"
#define MID_IO_ERROR            "8374a540011a4367b027979027ab75c3"
#define MID_HUNG_TASK           "5afb15b46bd94ea8a83377fbc24d0d28"
#define MID_SOFT_LOCKUP         "ad7c418d292149069cf194d420c022db"
#define MID_RCU_STALL           "9bfe74e6135044b08bbc21c247cb45bc"
#define MID_KERNEL_OOPS         "1dc18e757129476793e5a4f7b92890ba"
#define MID_KERNEL_WARNING      "b77e67575c8a4f9eae8d45a2d62158b1"
#define MID_SEGFAULT            "2b1cdb57bad94abc95baef68a9c45fae"
#define MID_NET_ERROR           "45efd07a5105498b9cc0775939069b3d"
#define MID_PREVIOUS_BOOT_CRASH "535f29f7bcc1438481cedd6ac30d20dc"
#define MID_RULE_FIRED          "bbf076599788463bb0c68378fca4d207"
#define MID_ACTION_DONE         "06c60e6a37ac494f908d1c8949fb7265"
#define MID_ACTION_FAILED       "501c903374f3475b9aa773e52888096e"

/* Nitro (nitro.c) */
#define MID_EBS_PERFORMANCE_EXCEEDED   "65309e97bdd24f049ca39dc33321bb87"
#define MID_NETWORK_ALLOWANCE_EXCEEDED "dfc171a7a89341f987c905ef596d1a09"
