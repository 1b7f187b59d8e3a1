public enum BalancingPlaceholder {}
