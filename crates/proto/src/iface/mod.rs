//! The interface layer: configuration, ARP, IPv4 ingress/egress, reassembly, ICMP.
